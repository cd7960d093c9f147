"""Synthetic but article-like English texts, each distinct, for batch tests and benchmarks."""

from __future__ import annotations

import random
from pathlib import Path

SUBJECTS = [
    "The city council",
    "A battery maker",
    "Researchers at a public university",
    "The regional utility",
    "A logistics start-up",
    "The national health agency",
    "A group of farmers",
    "The central bank",
    "An insurance company",
    "A hospital network",
    "The port authority",
    "A software company",
]
VERBS = ["announced", "tested", "launched", "reported", "expanded", "delayed", "funded", "criticised"]
OBJECTS = [
    "a pilot of autonomous delivery robots",
    "a new recycling process for solar panels",
    "a programme to train nurses with virtual reality",
    "an app that pools rides for commuters",
    "a heat network fed by data centres",
    "a plan to phase out diesel trucks",
    "a marketplace for repaired electronics",
    "a study on remote work and housing prices",
    "a trial of four-day working weeks",
    "a drought insurance product for small farms",
]
DETAILS = [
    "The project will run for {n} months and involve about {m} people.",
    "Officials said the cost would reach {n} million euros over {m} years.",
    "Critics warned that the plan could widen existing inequalities.",
    "Early results suggest savings of {n} percent compared with last year.",
    "Unions asked to be consulted before any change to working conditions.",
    "The company expects to expand the service to {m} other cities by {y}.",
    "Independent experts will publish an evaluation in {y}.",
]


def article_text(i: int, *, paragraphs: int = 4) -> str:
    rng = random.Random(i)
    lines = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} (report {i})", ""]
    for _ in range(paragraphs):
        sentences = [
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} on day {rng.randint(1, 28)}."
        ]
        for _ in range(3):
            sentences.append(
                rng.choice(DETAILS).format(
                    n=rng.randint(2, 90), m=rng.randint(2, 400), y=rng.randint(2027, 2035)
                )
            )
        lines += [" ".join(sentences), ""]
    return "\n".join(lines)


def write_articles(folder: Path, n: int, *, start: int = 0, paragraphs: int = 4) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        path = folder / f"article-{i:05d}.txt"
        path.write_text(article_text(i, paragraphs=paragraphs), encoding="utf-8")
        paths.append(path)
    return paths
