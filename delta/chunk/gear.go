package chunk

//go:generate go run gen_gear.go

// gearWindow is how many trailing bytes the gear fingerprint depends on: each
// step shifts it left by one, so a byte's contribution leaves after 64 steps.
const gearWindow = 64

// masks returns the two cut masks of normalized chunking (level 2) for an
// average chunk of 1<<bits bytes: before the average a cut needs bits+2 zero
// bits (harder), after it bits-2 (easier), which pulls sizes towards the
// average. The masks take the fingerprint's top bits, the ones that depend on
// the whole 64-byte window.
func masks(bits int) (small, large uint64) {
	return ^uint64(0) << (64 - (bits + 2)), ^uint64(0) << (64 - (bits - 2))
}
