"""Bulk onboarding: subscribers from a CSV file, all or nothing.

Columns (header row required; names are case-insensitive, blanks/``_``/``-`` ignored, so
``First name``, ``first_name`` and ``firstName`` are the same column):

==============  ========  ===============================================================
column          required  meaning
==============  ========  ===============================================================
first_name      no        the user's first name
last_name       no        the user's last name
email           yes       the user's email (unique across all organizations)
package         yes       one subscriber package (``webex_calling``, ``webex_meetings``...)
location        no        a location of the customer, by name or id; blank = headquarters
phone_number    no        an E.164 number of that location's inventory (calling packages)
extension       no        2 to 10 digits, unique in the location (calling packages)
admin_role      no        a customer role (``full_admin``, ``user_admin``, ...), see
                          :mod:`partnerhub.catalog.customer_roles`
==============  ========  ===============================================================

Every row is checked first, with the same rules as ``POST /v1/wholesale/subscribers``
(:func:`partnerhub.subscribers.service.plan_new`); a row whose email already belongs to a user
of this customer is *existing*: reported, not changed, not duplicated (re-running a file is
safe). If any row fails, nothing is imported and every failing row is reported as
``(row, column, message)``; ``row`` is the line number as a spreadsheet shows it (the header
is row 1, the first subscriber row 2). Otherwise all new rows are inserted in one
transaction.

How a large file stays fast and small (docs/performance.md): the text is read once, as a
stream of small tuples, in chunks of ``CHUNK_ROWS`` a few chunks ahead of the checking. For
each chunk read, its phone numbers are parsed (by helper processes for a large file) and the
facts its rows need (users holding its emails, inventory facts of its numbers, owners of its
extensions) are loaded with three set queries, in the background and in file order
(:class:`MemoryFacts`); meanwhile earlier chunks go through
:func:`~partnerhub.subscribers.service.plan_new` row by row against those facts (updated row
by row, so that two rows claiming one number conflict exactly as two requests would). When
importing, each accepted row is at once a pre-formatted line of ``COPY org_users`` on the
import's connection (the facts are read on a second one), so PostgreSQL inserts while Python
checks; a ``COPY`` statement ends every ``COPY_ROWS`` rows, in the background, so its foreign
keys are checked meanwhile too. A failing row stops the stream (the remaining rows are still
checked, to report them all) and the transaction is rolled back: nothing is written. The
event loop is handed back every few hundred rows, so a worker's heartbeat and other requests
keep running.

One module per step: :mod:`.reading` (the file into rows), :mod:`.phone_numbers` (the rows'
numbers parsed, in helper processes for a large file), :mod:`.facts` (what the rules need,
and what earlier rows claimed), :mod:`.checking` (every row through the rules), :mod:`.writing`
(``COPY`` of the new rows), :mod:`.reporting` (the report and the result CSV) and
:mod:`.queueing` (the precheck that queues an import job). This module only names what the
rest of the code uses.
"""

from partnerhub.subscribers.imports.checking import BATCH, Stage, check
from partnerhub.subscribers.imports.facts import MemoryFacts
from partnerhub.subscribers.imports.queueing import start
from partnerhub.subscribers.imports.reading import (
    COLUMNS,
    MAX_ROWS,
    CsvProblem,
    CsvRow,
    Row,
    iter_rows,
    parse_csv,
)
from partnerhub.subscribers.imports.reporting import Report, RowError, result_csv
from partnerhub.subscribers.imports.writing import Progress, run, write

__all__ = [
    "BATCH",
    "COLUMNS",
    "MAX_ROWS",
    "CsvProblem",
    "CsvRow",
    "MemoryFacts",
    "Progress",
    "Report",
    "Row",
    "RowError",
    "Stage",
    "check",
    "iter_rows",
    "parse_csv",
    "result_csv",
    "run",
    "start",
    "write",
]
