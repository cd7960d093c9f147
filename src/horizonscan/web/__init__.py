"""The web app (`horizonscan serve`) and what it shares with the static site (`horizonscan site`)."""
