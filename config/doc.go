// Package config loads and validates a ferry jobs file. Decoding is strict:
// an unknown key, a bad value, a duplicate job name or a relative path is an
// error naming the file, the line and the field.
package config
