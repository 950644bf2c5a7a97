"""Great Expectations gates on customer data and send audiences.

Empty in this version; the customer-data issue adds the suites and the quarantine.
"""
