"""The exceptions looplab raises on purpose.

Every error a user can cause derives from :class:`LooplabError`; the CLI turns
those into one readable line each and exit code 2, never a traceback.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable


class LooplabError(Exception):
    """Root of every error looplab raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (a field path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


# scripts whose letters look like Latin ones: a word mixing them with ASCII letters is most likely a look-alike
# typed or pasted by accident ('yіeld' with a Cyrillic і), which a message would otherwise print unchanged
# (Greek only its letters shaped like Latin ones: lambda_max or delta_H are names a chemist writes on purpose)
LOOK_ALIKE_SCRIPTS = ("CYRILLIC", "ARMENIAN", "CHEROKEE", "COPTIC", "FULLWIDTH", "MATHEMATICAL")
GREEK_LOOK_ALIKES = "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαγικνορυχ"
_INVISIBLE = {"Cf", "Cc", "Zs", "Zl", "Zp"}  # format and control characters, spaces other than the plain one
_WORD = re.compile(r"\w+", re.UNICODE)


def reveal(line: str) -> str:
    """``line`` as a user can read it: characters that print as nothing or as a plain space (a zero-width
    space, a no-break space, a byte-order mark, a direction override) written as \\uXXXX, and each word that
    mixes ASCII letters with look-alike letters of another script followed by what those letters are."""
    shown = "".join(c if c in " \n\t" or unicodedata.category(c) not in _INVISIBLE or c.isascii() and c.isprintable()
                    else f"\\u{ord(c):04x}" for c in line)
    notes = []
    for word in dict.fromkeys(_WORD.findall(shown)):
        odd = [c for c in dict.fromkeys(word) if not c.isascii() and c.isalpha() and (
            c in GREEK_LOOK_ALIKES or unicodedata.name(c, "").split(" ")[0] in LOOK_ALIKE_SCRIPTS)]
        if odd and any(c.isascii() and c.isalpha() for c in word):
            notes.append(f"'{word}' holds " + ", ".join(f"U+{ord(c):04X} {unicodedata.name(c)}" for c in odd[:3])
                         + (" and more" if len(odd) > 3 else ""))
    return shown + (f" (look-alike letters: {'; '.join(notes[:3])})" if notes else "")


SHOWN = 20  # problems printed per file; a file of 100,000 unknown keys prints 21 lines, not 100,000


class ConfigError(LooplabError):
    """A campaign file (or another user input) is invalid.

    Carries every problem found, not just the first, so a user can fix a file in
    one pass. ``source`` is the file the problems were found in, if any.
    """

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(dict.fromkeys(problems))  # each once: two checks may find the same thing
        self.source = source
        super().__init__(self.format())

    def format(self, limit: int | None = SHOWN) -> str:
        """One line per problem; past ``limit`` problems, one line saying how many more there are."""
        prefix = f"{self.source}: " if self.source else ""
        shown = self.problems if limit is None else self.problems[:limit]
        lines = [prefix + str(p) for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"{prefix}and {len(self.problems) - len(shown)} more problems (fix these first)")
        return "\n".join(lines)


class SourceNotReady(ConfigError):
    """A transfer source that is another campaign is not in the store yet, or has fewer than two results. The
    CLI reports it like any invalid input (exit 2); a daemon waits for the source campaign, which may be one
    of its own, and starts the campaign once the source has results."""


class StoreError(LooplabError):
    """The state store cannot be opened or holds something unexpected."""


class LeaseHeld(StoreError):
    """Another live process is running this campaign (see ``Store.acquire_lease``)."""


class LeaseLost(StoreError):
    """This process's lease on a campaign was taken over by another process (it was paused or cut off for
    longer than the lease's TTL): it must stop driving that campaign. Raised by every store write made under
    a lease that is no longer current, in the same transaction, so nothing is written."""


def plugin_call(call: Callable[[], Any], who: str, what: str, after: str) -> Any:
    """``call()`` of a plugin's method (an oracle's, a model's, an acquisition's). An exception of the plugin
    becomes one LooplabError line instead of a traceback: ``who`` (the field and kind, e.g. "model.kind:
    model 'mine'") failed ``what`` (e.g. "to fit"), the exception and where it was raised, then ``after``
    (what happens to the campaign). looplab's own errors pass through."""
    from oracles.base import raised_at

    try:
        return call()
    except LooplabError:
        raise
    except Exception as exc:  # noqa: BLE001 - the plugin's failure, reported as the user's to fix
        raise LooplabError(f"{who} failed {what} ({_traced(exc) or f'{type(exc).__name__}: {exc}{raised_at(exc)}'}); "
                           f"{after}") from None


def _traced(exc: Exception) -> str | None:
    """TensorFlow's error from inside a traced function (its text: "in user code:", the frames, then the
    original exception) as one line: the original exception and the file:line of its last frame (a
    physics plugin's residual); None for any other error."""
    import re

    text = str(exc)
    if "in user code:" not in text:
        return None
    frames = re.findall(r'File "([^"]+)", line (\d+)', text)
    last = [line.strip() for line in text.strip().splitlines() if line.strip()][-1]
    return last + (f" at {frames[-1][0].replace(chr(92), '/').rsplit('/', 1)[-1]}:{frames[-1][1]}" if frames else "")
