"""The parts one sandbox app is made of, handed to every router (no globals: two apps can coexist)."""

from __future__ import annotations

from dataclasses import dataclass

from linkedin.sandbox.clock import Clock
from linkedin.sandbox.gate import Gate
from linkedin.sandbox.render import ProfileViewCache
from linkedin.sandbox.search import Searcher
from linkedin.sandbox.social import Social
from linkedin.sandbox.store import Store
from linkedin.sandbox.tolerances import Tolerances
from linkedin.sandbox.world import World


@dataclass
class Sandbox:
    world: World
    store: Store
    clock: Clock
    tolerances: Tolerances
    gate: Gate
    social: Social
    searcher: Searcher
    views: ProfileViewCache

    @classmethod
    def build(cls, world: World, store: Store) -> Sandbox:
        clock = Clock(store.clock_offset_ms, on_change=store.set_clock_offset)
        tolerances = Tolerances(store, clock)
        social = Social(world, store)
        return cls(
            world=world,
            store=store,
            clock=clock,
            tolerances=tolerances,
            gate=Gate(world, store, tolerances),
            social=social,
            searcher=Searcher(world, social.is_connected),
            views=ProfileViewCache(),
        )
