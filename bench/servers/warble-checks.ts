// Warble exactly as bench/servers/warble.ts runs it, with the hot procedures' output checks timed
// inside the process (./check-timer.ts). ES modules evaluate in import order: the schemas are
// wrapped before the router captures them. Usage: node bench/servers/warble-checks.ts (configuration
// from the env).
import './check-timer.ts';
import './warble.ts';
