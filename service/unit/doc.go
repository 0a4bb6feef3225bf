// Package unit writes the systemd user unit that runs `ferry run` as a
// service, restarted on failure and reloaded with SIGHUP.
package unit
