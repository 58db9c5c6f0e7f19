#pragma once
// What a process holding API keys does first, before anything reads a key or
// initialises libcurl/OpenSSL: no core dumps (they would carry the keys),
// not dumpable (no ptrace attach or /proc/PID/mem by the same user), and no
// TLS key log (SSLKEYLOGFILE would make libcurl write session secrets to a
// file). Called at the top of pathwatchd's main and of `pathwatch check`.
namespace pathwatch {

// Best effort: a step the kernel refuses is skipped; returns false if any was.
bool hardenProcess();

}  // namespace pathwatch
