package endpoint

import (
	"errors"
	"fmt"
)

// ErrInTheWay: a file that ferry did not create occupies a name ferry needs
// in order to write a path (a user's own NAME.partial, where ferry writes
// NAME before renaming it into place). Unlike ErrChanged it does not go away
// by itself: the path is left undone, pass after pass, until the user moves
// the file. Endpoints return an *InTheWayError, which matches it.
var ErrInTheWay = errors.New("a file ferry did not create is in the way")

// InTheWayError names the path that could not be written and the file in
// its way. errors.Is(err, ErrInTheWay) holds for it.
type InTheWayError struct {
	// Path is the path ferry was writing.
	Path string
	// Name is the file in the way, relative to the same root.
	Name string
}

func (e *InTheWayError) Error() string {
	return fmt.Sprintf("unable to write %q: %s", e.Path, e.Reason())
}

// Reason says what is in the way and what to do, without the path.
func (e *InTheWayError) Reason() string {
	return fmt.Sprintf("a file %q that ferry did not create is in the way (ferry writes there first, then renames it into place); move or delete it",
		e.Name)
}

// Is makes errors.Is(err, ErrInTheWay) true.
func (e *InTheWayError) Is(target error) bool { return target == ErrInTheWay }
