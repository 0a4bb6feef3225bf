// Package api is ferry's control API: JSON over HTTP handlers that report and
// steer a running agent, the listeners they are served on (an owner-only unix
// socket, and optionally TCP), and a Go client for the CLI.
//
// Caveats: on TCP without a token the handler only answers requests that name
// a loopback host, to defeat DNS rebinding; a non-loopback TCP address must be
// given a token (ListenTCP refuses otherwise). State-changing requests over
// TCP must carry the token or the X-Ferry-Request header, and are refused when
// a browser says they come from another site. A reverse proxy must pass the
// Host header through unchanged, or the page's own requests fail the origin
// check.
package api
