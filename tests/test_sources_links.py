"""Canonicalisation and link classification rules."""

from __future__ import annotations

import pytest

from horizonscan.sources.links import canonicalize_url, classify_link


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        ("HTTPS://Example.COM:443/Path/Case?b=2&a=1#frag", "https://example.com/Path/Case?a=1&b=2"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        (
            "https://x.org/a?utm_source=n&utm_medium=e&id=7&fbclid=1&gclid=2&mc_cid=3&mc_eid=4",
            "https://x.org/a?id=7",
        ),
        (
            "https://x.org/a?ref=hn&ref_src=t&igshid=i&mkt_tok=m&_hsenc=h&_hsmi=s&yclid=y&msclkid=z",
            "https://x.org/a",
        ),
        ("https://x.org/a?q=hello%20world&UTM_Campaign=z", "https://x.org/a?q=hello%20world"),
        ("https://user:pw@x.org/a", "https://x.org/a"),
        ("https://news.substack.com/p/post?r=abc&s=w", "https://news.substack.com/p/post?s=w"),
        ("https://x.org/a?r=abc", "https://x.org/a?r=abc"),
        ("  https://x.org/a?  ", "https://x.org/a"),
        ("MAILTO:someone@x.org", "mailto:someone@x.org"),
    ],
)
def test_canonicalize(raw: str, canon: str) -> None:
    assert canonicalize_url(raw) == canon
    assert canonicalize_url(canon) == canon  # idempotent


SRC = "https://futurenotes.substack.com/p/weekly-42"


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("mailto:a@b.c", "not a web link (mailto)"),
        ("tel:+123", "not a web link (tel)"),
        ("javascript:void(0)", "not a web link (javascript)"),
        ("https://x.com/someone", "social media"),
        ("https://twitter.com/intent/tweet?url=x", "social share"),
        ("https://www.facebook.com/sharer/sharer.php?u=x", "social share"),
        ("https://www.linkedin.com/shareArticle?mini=true", "social share"),
        ("https://www.linkedin.com/in/someone", "social profile"),
        ("https://www.instagram.com/someone", "social media"),
        ("https://www.tiktok.com/@someone", "social media"),
        ("https://www.youtube.com/channel/UC123", "social profile"),
        ("https://www.youtube.com/@someone", "social profile"),
        ("https://wa.me/123", "social media"),
        ("https://www.reddit.com/submit?url=x", "social share"),
        ("https://x.org/photo.JPG", "image file"),
        ("https://x.org/talk.mp4", "media file"),
        ("https://x.org/data.zip", "archive file"),
        ("https://apps.apple.com/us/app/x/id1", "app store"),
        ("https://play.google.com/store/apps/details?id=x", "app store"),
        ("https://substackcdn.com/image/x", "newsletter asset"),
        ("https://x.org/", "home page"),
        ("https://x.org", "home page"),
        ("https://futurenotes.substack.com/subscribe?utm_source=x", "newsletter navigation (/subscribe)"),
        ("https://futurenotes.substack.com/account", "newsletter navigation"),
        ("https://futurenotes.substack.com/archive", "newsletter navigation"),
        ("https://futurenotes.substack.com/about", "newsletter navigation"),
        ("https://futurenotes.substack.com/s/podcast", "newsletter navigation"),
        ("https://futurenotes.substack.com/podcast", "newsletter navigation"),
        ("https://futurenotes.substack.com/leaderboard", "newsletter navigation"),
        ("https://futurenotes.substack.com/signin", "newsletter navigation"),
        ("https://futurenotes.substack.com/p/weekly-42/comments", "newsletter comments"),
        ("https://futurenotes.substack.com/p/weekly-42?action=share", "newsletter share/action"),
        ("https://futurenotes.substack.com/p/weekly-42?utm_source=x#footnote-1", "the source page itself"),
        ("https://www.substack.com/profile/1-x", "social profile"),
        ("https://futurenotes.substack.com/p/weekly-41", "another issue"),
        ("https://futurenotes.substack.com/tag/ai", "newsletter navigation"),
        ("https://futurenotes.substack.com/author/jane", "newsletter navigation"),
        ("https://futurenotes.substack.com/action/disable_email?token=x", "unsubscribe"),
        ("https://lists.example.org/unsubscribe?u=1", "unsubscribe"),
        ("https://substack.com/profile/123-jane", "social profile"),
    ],
)
def test_skipped(url: str, prefix: str) -> None:
    reason = classify_link(url, source_url=SRC)
    assert reason is not None and reason.startswith(prefix), reason


@pytest.mark.parametrize(
    "url",
    [
        "https://bit.ly/3abc",
        "https://t.co/xyz",
        "https://www.nature.com/articles/s41586-024-1",
        "https://example.org/report.pdf",
        "https://www.youtube.com/watch?v=abc",
        "https://www.linkedin.com/pulse/some-article-jane",
        "https://substack.com/redirect/abc-123?j=xyz",
        "https://other.substack.com/p/great-post",
        "https://x.org/?p=123",
        "https://futurenotes.substack.com/2024/05/own-blog-post",
    ],
)
def test_article_links_kept(url: str) -> None:
    assert classify_link(url, source_url=SRC) is None
