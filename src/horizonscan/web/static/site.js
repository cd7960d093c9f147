// Static site: client-side search with pagefind (its UI script is loaded just before this file).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("search");
  if (box && window.PagefindUI) {
    new window.PagefindUI({ element: "#search", showSubResults: true, showImages: false, resetStyles: false });
  }
});
