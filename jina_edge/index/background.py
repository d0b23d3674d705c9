"""Passages about everything and nothing in particular: the background of a small index.

Semantic evidence is how far a passage's cosine to the query stands above the
query's cosine to passages at random (`VectorSearch.search`). An index of a
handful of passages has too few of its own to say what "at random" is (with 5,
no passage can stand 3 deviations out), so these texts, on unrelated everyday
subjects, make up the rest of its background. Their vectors are cached per
model, so that a search from the shell does not embed them every time.
"""

from __future__ import annotations

import hashlib
import io
import logging
from typing import TYPE_CHECKING

import numpy as np

from jina_edge.config import cache_dir, write_bytes_atomic

if TYPE_CHECKING:
    from jina_edge.embedder import Embedder

logger = logging.getLogger(__name__)

# Index passages fewer than this borrow the texts below for their background.
MIN_BACKGROUND = 200

BACKGROUND_TEXTS = (
    "Preheat the oven, then bake the bread for forty minutes until the crust is brown.",
    "The train to the coast leaves every hour from platform four.",
    "Our team lost the final after extra time, but the season was still our best.",
    "Water the tomatoes in the morning so the leaves dry before the evening.",
    "The contract ends on the last day of June unless either side gives notice.",
    "Take one tablet twice a day with food, and see a doctor if the rash spreads.",
    "The museum is closed on Mondays; tickets are half price for students.",
    "Interest rates rose again, and mortgage payments went up for most families.",
    "The concert opened with a quiet piano piece before the full orchestra joined.",
    "Heavy rain is expected over the weekend, with strong winds near the coast.",
    "He repaired the bicycle chain and pumped up both tyres before the ride.",
    "The city council voted to build a new library next to the old market square.",
    "Mix the flour and butter, add an egg, and rest the dough for an hour.",
    "The hotel room had a view of the harbour and a small balcony.",
    "Elephants live in family groups led by the oldest female.",
    "The invoice is due within thirty days of delivery.",
    "A good night's sleep helps memory more than a late night of revision.",
    "The roof leaked during the storm, so we called a builder the next morning.",
    "She learned to play the violin as a child and joined a string quartet later.",
    "The ferry was cancelled because of fog, and passengers waited in the terminal.",
    "Volcanic eruptions can cool the climate for a year or two.",
    "The shop sells second-hand furniture, lamps and old records.",
    "Please bring a passport photo and proof of address to the appointment.",
    "The novel follows three sisters who inherit a farm in the mountains.",
    "Wash dark clothes in cold water so the colours do not fade.",
    "The marathon route passes the cathedral, the river and the old stadium.",
    "Bees carry pollen between flowers, and many crops depend on them.",
    "The kitchen renovation took two months longer than the builder promised.",
    "Parents can book a meeting with the teacher at the end of each term.",
    "The restaurant's menu changes with the seasons and the local harvest.",
    "A thunderstorm knocked out the power in our street for three hours.",
    "The painting was sold at auction for twice its estimated price.",
    "Keep the receipt: the shop accepts returns within fourteen days.",
    "The hiking trail climbs steeply through the forest to a lake.",
    "Children under twelve must be accompanied by an adult at the pool.",
    "The election results will be announced late on Sunday evening.",
    "Fresh herbs keep longer wrapped in a damp towel in the fridge.",
    "The dog barks at the postman every morning at eight.",
    "The bridge is closed for repairs, so traffic is diverted through the town.",
    "Regular exercise lowers blood pressure and improves mood.",
    "The festival brings street food, music and fireworks to the old town.",
    "Insurance covers the damage only if the door was locked.",
    "The choir rehearses on Thursday evenings in the church hall.",
    "Snow closed the mountain pass, and the village was cut off for two days.",
    "A cup of coffee in the afternoon can keep some people awake at night.",
    "The apartment has two bedrooms, a small garden and parking for one car.",
    "Ancient Romans built roads that are still used in parts of Europe.",
    "The airline lost my suitcase, and it arrived three days later.",
    "Plant the bulbs in autumn, about ten centimetres deep.",
    "The football club signed a young striker from the second division.",
    "Recycling bins are collected every other Tuesday.",
    "The lecture covered the causes of the French Revolution.",
    "Our neighbours are having a party, so the street will be busy tonight.",
    "The soup needs more salt and a squeeze of lemon.",
    "Wind farms off the coast now supply a third of the region's electricity.",
    "The bank will call you before it blocks a suspicious payment.",
    "Grandmother kept every letter she received during the war.",
    "The car failed its inspection because of worn brake pads.",
    "Whales migrate thousands of kilometres between feeding and breeding grounds.",
    "The wedding reception was held in a barn decorated with flowers.",
    "Tickets for the play sold out within an hour of going on sale.",
    "A short walk after dinner helps digestion.",
    "The village bakery has made the same rye bread for a hundred years.",
    "The chess tournament lasted nine rounds over five days.",
)


def background_vectors(embedder: Embedder) -> np.ndarray:
    """`BACKGROUND_TEXTS` embedded by this model: from the cache, or embedded and cached."""
    digest = hashlib.sha256("\n".join((embedder.model_key, *BACKGROUND_TEXTS)).encode())
    path = cache_dir() / "background" / f"{digest.hexdigest()[:32]}.npy"
    try:
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape == (len(BACKGROUND_TEXTS), embedder.dim):
            return np.asarray(vectors, np.float32)
    except (OSError, ValueError):
        pass  # not cached yet, or damaged: embed again
    vectors = embedder.embed(list(BACKGROUND_TEXTS))
    buffer = io.BytesIO()
    np.save(buffer, vectors)
    try:
        write_bytes_atomic(path, buffer.getvalue())
    except OSError as exc:  # a read-only or full cache: embed again next time
        logger.debug("could not cache the background vectors in %s: %s", path, exc)
    return vectors
