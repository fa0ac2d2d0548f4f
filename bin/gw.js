#!/usr/bin/env node
// The gw command. Sources are TypeScript run through tsx, so that the CLI, the
// server and the tests execute the very same files (no stale build output).
import { register } from 'tsx/esm/api';

register();
await import('../gateway/cli/gw.ts');
