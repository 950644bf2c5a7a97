"""Great Expectations gates on customer data and send audiences (docs/data-quality.md).

- :mod:`.suites`: suite files (``expectations/<name>.json`` or the packaged defaults), checked;
- :mod:`.runner`: ``validate(suite, frame)`` → which rows failed which expectation;
- :mod:`.records`: ``validations`` and ``quarantine`` rows, artifact summaries;
- :mod:`.gate`: the tick's ``audience`` phase before dispatch;
- :mod:`.check`: ``journeys check-data`` over the store.

Great Expectations itself is imported only where a suite is built or run (it takes seconds).
"""
