"""Source pixels to tiles in bounded memory: bands are cut into tile rows, encoded, spooled, and halved into the
next level on the way (2x2 area average: smoothed downsampling), so every generated level is made in one pass."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .instances import FrameSpool

BACKGROUND = 255  # padding of edge tiles: white, a slide's background


class LevelStage:
    """Receives a level's rows top to bottom; encodes its tiles (if `spool`) and feeds the next, halved."""

    def __init__(self, width_px: int, tile: tuple[int, int], spool: FrameSpool | None,
                 encode: Callable[[np.ndarray], bytes] | None, next_stage: LevelStage | None,
                 on_tile: Callable[[], None]) -> None:
        self.width_px, self.tile = width_px, tile
        self.spool, self.encode, self.next_stage, self.on_tile = spool, encode, next_stage, on_tile
        self._rows: list[np.ndarray] = []  # waiting to fill a tile row
        self._pending = 0
        self._odd: np.ndarray | None = None  # a row waiting for its pair before halving

    def receive(self, rows: np.ndarray) -> None:
        if self.spool is not None:
            self._rows.append(rows)
            self._pending += rows.shape[0]
            while self._pending >= self.tile[1]:
                self._emit_tile_row(self._take(self.tile[1]))
        if self.next_stage is not None:
            self._halve(rows)

    def finish(self) -> None:
        if self.spool is not None and self._pending:
            self._emit_tile_row(self._take(self._pending))
        if self.next_stage is not None:
            if self._odd is not None:  # an odd last row pairs with itself
                self.next_stage.receive(_halve_pairs(np.concatenate([self._odd, self._odd])))
                self._odd = None
            self.next_stage.finish()

    def _take(self, count: int) -> np.ndarray:
        rows = np.concatenate(self._rows) if len(self._rows) > 1 else self._rows[0]
        self._rows = [rows[count:]] if rows.shape[0] > count else []
        self._pending -= count
        return rows[:count]

    def _emit_tile_row(self, rows: np.ndarray) -> None:
        tile_w, tile_h = self.tile
        across = -(-self.width_px // tile_w)
        band = np.full((tile_h, across * tile_w, 3), BACKGROUND, np.uint8)
        band[:rows.shape[0], :self.width_px] = rows
        for column in range(across):
            self.spool.add(self.encode(band[:, column * tile_w:(column + 1) * tile_w]))
            self.on_tile()

    def _halve(self, rows: np.ndarray) -> None:
        if self._odd is not None:
            rows = np.concatenate([self._odd, rows])
            self._odd = None
        if rows.shape[0] % 2:
            self._odd, rows = rows[-1:].copy(), rows[:-1]
        if rows.shape[0]:
            self.next_stage.receive(_halve_pairs(rows))


def _halve_pairs(rows: np.ndarray) -> np.ndarray:
    """2x2 area average of an even number of rows, rounded; an odd last column pairs with itself.

    Four strided slices added in place: a reshape summed over two axes was 40x slower (measured).
    """
    if rows.shape[1] % 2:
        rows = np.concatenate([rows, rows[:, -1:]], axis=1)
    total = rows[0::2, 0::2].astype(np.uint16)
    total += rows[1::2, 0::2]
    total += rows[0::2, 1::2]
    total += rows[1::2, 1::2]
    total += 2
    total >>= 2
    return total.astype(np.uint8)
