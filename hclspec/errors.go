package hclspec

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// FieldError is a job or agent value that failed a check. Key is the
// configuration key with an index where the key holds a list or map
// ("mount[1]", `port_map["http"]`), Value the offending value as given.
type FieldError struct {
	Key   string
	Value string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Key, quoteValue(e.Value), e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(key, value string, err error) *FieldError {
	return &FieldError{Key: key, Value: value, Err: err}
}

// maxShownValue bounds how much of a bad value an error message repeats.
const maxShownValue = 120

// quoteValue quotes v for an error message: Go syntax, so a newline, a
// control character or invalid UTF-8 shows escaped and can never break a
// log line; long values are cut.
func quoteValue(v string) string {
	if len(v) <= maxShownValue {
		return strconv.Quote(v)
	}
	cut := maxShownValue
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return strconv.Quote(v[:cut]) + fmt.Sprintf("…(%d bytes)", len(v))
}

// maxErrors bounds how many problems one Validate reports.
const maxErrors = 20

// errList collects the problems of one configuration.
type errList struct {
	errs    []error
	dropped int
}

func (l *errList) add(err error) {
	if err == nil {
		return
	}
	if len(l.errs) >= maxErrors {
		l.dropped++
		return
	}
	l.errs = append(l.errs, err)
}

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	errs := l.errs
	if l.dropped > 0 {
		errs = append(errs[:len(errs):len(errs)], fmt.Errorf("and %d more problems", l.dropped))
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
