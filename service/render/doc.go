// Package render draws job status for the terminal: the `ferry status`
// table, the `ferry monitor` view with rate sparklines, progress bars, and
// human rates, sizes and durations.
//
// Caveats: file names and reasons come from disk and the network, so every
// string is stripped of control characters before it is printed; callers
// writing their own output should use Clean too.
package render
