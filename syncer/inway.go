package syncer

import (
	"errors"

	"github.com/ferry-sync/ferry/endpoint"
)

// inTheWayReason is what a pass records for a path err left undone.
func inTheWayReason(err error) string {
	if in, ok := errors.AsType[*endpoint.InTheWayError](err); ok {
		return in.Reason()
	}
	// From another host: the type did not cross, its text did.
	return err.Error()
}
