"""horizonscan: articles in any language in, English foresight pages out."""

__version__ = "0.1.0"
