// Package unit writes ferry's systemd units: the user unit that runs
// `ferry run` (restarted on failure, reloaded with SIGHUP) and the
// hardened system unit that runs `ferry serve` as a dedicated user.
//
// Caveats: a configuration error makes ferry exit 2, which both units
// list in RestartPreventExitStatus=, so a broken file stops the unit
// instead of restarting it every few seconds; fix the file and start the
// unit again.
package unit
