"""mynaflow card-registry service."""
