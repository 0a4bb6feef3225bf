package chunk

//go:generate go run gen_gear.go

// The gear fingerprint depends on the last 64 bytes only: each step shifts
// it left by one, so a byte's contribution leaves after 64 steps.

// ncLevel is the normalization level of FastCDC's normalized chunking: how
// many bits harder a cut is before the average size and easier after it.
// Level 1 measured best for this package's Min = Avg/4, Max = Avg*4 (see
// doc.go): level 2 tightens sizes but makes an edit cost more chunks.
const ncLevel = 1

// masks returns the two cut masks of normalized chunking for an average chunk
// of 1<<bits bytes: before the average a cut needs bits+ncLevel zero bits,
// after it bits-ncLevel, which pulls sizes towards the average. The masks take
// the fingerprint's top bits, the ones that depend on the whole 64-byte
// window.
func masks(bits int) (small, large uint64) {
	return ^uint64(0) << (64 - (bits + ncLevel)), ^uint64(0) << (64 - (bits - ncLevel))
}
