"""mynaflow notice-intake service."""
