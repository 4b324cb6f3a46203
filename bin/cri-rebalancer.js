#!/usr/bin/env node
// The published entry point: the compiled CLI (npm install runs the TypeScript build).
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv.slice(2));
