// Warble exactly as bench/servers/warble.ts runs it, plus the GC hook the realtime phase needs to
// read a settled RSS (./gc-hook.ts). ES modules evaluate in import order: the hook is installed
// before the app starts. Usage: node bench/servers/warble-realtime.ts (configuration from the env).
import './gc-hook.ts';
import './warble.ts';
