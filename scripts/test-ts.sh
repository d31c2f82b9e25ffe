#!/usr/bin/env bash
# Placeholder until the TypeScript client test lands.
echo "test-ts: not yet implemented"
