// Package service groups what lets an owner see and steer a headless ferry:
// the control API (api), the activity page (web), Prometheus metrics
// (metrics), log files (logging), the systemd unit (unit) and the CLI's
// terminal rendering (render). cmd/ferry wires them to the agent.
package service
