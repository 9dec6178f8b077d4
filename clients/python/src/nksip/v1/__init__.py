# Generated from proto/nksip/v1 by clients/python/gen.sh (`make proto`); do not edit.
