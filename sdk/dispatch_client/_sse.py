"""Server-Sent Events, parsed as the HTML standard says, with no I/O: bytes in, frames out.

Lines end in LF, CR or CRLF (a CR at the end of one chunk may be the first half of a CRLF);
`data:` lines join with LF; `:` lines are comments; `id:` sets the last event id (also on a
frame with no data, which dispatches nothing); `retry:` (digits only) is the reconnection
delay in milliseconds; unknown fields are ignored; a frame ends at an empty line.
"""

from __future__ import annotations

import codecs

import attrs


@attrs.frozen(kw_only=True)
class Frame:
    """One dispatched event: `event` ("message" by default), `data`, and `id`, the last event
    id the stream had set when it came (None if none yet)."""

    event: str
    data: str
    id: str | None


class SseParser:
    """Feed it the stream's bytes as they come; it returns the frames they complete."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # text after the last complete line
        self._start = True  # a leading BOM is dropped
        self._event = ""
        self._data: list[str] = []
        self._has_data = False
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        # The last event id as of the last complete frame, with data or not: where a stream
        # that breaks now resumes (an `id:` line of a frame cut short does not count).
        self.committed_id: str | None = None

    def feed(self, chunk: bytes) -> list[Frame]:
        text = self._pending + self._decoder.decode(chunk)
        if self._start and text:
            text = text.removeprefix("\ufeff")
            self._start = False
        frames: list[Frame] = []
        start = 0
        length = len(text)
        while True:
            cr = text.find("\r", start)
            lf = text.find("\n", start)
            if cr < 0 and lf < 0:
                break
            end = lf if cr < 0 else cr if lf < 0 else min(cr, lf)
            if text[end] == "\r":
                if end + 1 == length:
                    break  # maybe the CR of a CRLF split across chunks: wait for more
                after = end + 2 if text[end + 1] == "\n" else end + 1
            else:
                after = end + 1
            frame = self._line(text[start:end])
            if frame is not None:
                frames.append(frame)
            start = after
        self._pending = text[start:]
        return frames

    def _line(self, line: str) -> Frame | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Frame | None:
        event, data, has_data = self._event or "message", self._data, self._has_data
        self._event, self._data, self._has_data = "", [], False
        self.committed_id = self.last_id
        if not has_data:
            return None
        return Frame(event=event, data="\n".join(data), id=self.last_id)
