package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// RawDigest stands for the raw key and value of a dead letter that were left out to fit the
// topic's record limit: their sizes and SHA-256 (hex). The bytes themselves stay in the source
// topic at the dead letter's source partition and offset (until retention removes them).
type RawDigest struct {
	KeySize     int64
	KeySHA256   string
	ValueSize   int64
	ValueSHA256 string
}

// What Shrink leaves out, as listed in DeadLetter.Omitted.
const (
	OmittedRaw         = "raw"
	OmittedAttempts    = "attempts"
	OmittedRequest     = "request"
	OmittedFailedItems = "failed_items"
	OmittedClipped     = "clipped"
)

// keptAttempts is how many of the latest attempts Shrink keeps, and clipBytes how long a string
// may stay once Shrink clips strings.
const (
	keptAttempts = 3
	clipBytes    = 1024
)

// Shrink returns a smaller form of d, for a dead letter too large for its topic, and false when
// nothing is left to give up. Each call takes the next step, keeping what a person needs most
// for longest: the reason, the ids and the source offset always; the decoded request until only
// it is too large.
//
//  1. raw key and value → RawDigest (size and SHA-256; the bytes are at the source offset);
//  2. the attempt history → its last 3 entries, messages clipped;
//  3. the request → left out (the source offset still has it);
//  4. the failed items → left out;
//  5. every string clipped to 1 KiB, the trace context and the history dropped.
//
// Every step is listed in Omitted. Shrink implements producer.Shrinker.
func (d DeadLetter) Shrink() (Record, bool) {
	d.Omitted = append([]string(nil), d.Omitted...)
	switch {
	case d.RawKey != nil || d.RawValue != nil:
		d.RawDigest = &RawDigest{KeySize: int64(len(d.RawKey)), KeySHA256: digest(d.RawKey),
			ValueSize: int64(len(d.RawValue)), ValueSHA256: digest(d.RawValue)}
		d.RawKey, d.RawValue = nil, nil
		d.Omitted = append(d.Omitted, OmittedRaw)
	case !d.omitted(OmittedAttempts) && len(d.Attempts) > 0:
		n := len(d.Attempts)
		kept := make([]Attempt, 0, keptAttempts)
		for _, a := range d.Attempts[max(0, n-keptAttempts):] {
			a.Message, a.RequestID, a.CartID = clip(a.Message), clip(a.RequestID), clip(a.CartID)
			kept = append(kept, a)
		}
		d.Attempts = kept
		d.Omitted = append(d.Omitted, OmittedAttempts)
	case d.Request != nil:
		d.Request = nil
		d.Omitted = append(d.Omitted, OmittedRequest)
	case len(d.FailedItems) > 0:
		d.FailedItems = nil
		d.Omitted = append(d.Omitted, OmittedFailedItems)
	case !d.omitted(OmittedClipped):
		for _, s := range []*string{&d.DeadLetterID, &d.OrderID, &d.Provider, &d.Reason, &d.Action, &d.Rule, &d.Code,
			&d.CartID, &d.Merchant, &d.Phase, &d.SourceTopic, &d.ReplayID} {
			*s = clip(*s)
		}
		d.Attempts, d.TraceContext = nil, nil
		d.Omitted = append(d.Omitted, OmittedClipped)
	default:
		return d, false
	}
	return d, true
}

func (d DeadLetter) omitted(what string) bool {
	for _, o := range d.Omitted {
		if o == what {
			return true
		}
	}
	return false
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// clip cuts s to about clipBytes (at a rune boundary), saying how long it was.
func clip(s string) string {
	if len(s) <= clipBytes {
		return s
	}
	i := clipBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:i], len(s))
}
