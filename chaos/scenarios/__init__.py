"""The six scenarios of the fault suite, one module each."""
