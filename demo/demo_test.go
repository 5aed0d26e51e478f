package demo

import (
	"regexp"
	"testing"
)

// TestCatalogue: every scenario has its own name, a Want of the tally's form, and builds a
// valid request whose product ids differ from order to order (so per-product triggers such as
// oos-once behave the same for every order).
func TestCatalogue(t *testing.T) {
	want := regexp.MustCompile(`^(placed|(dead_lettered|needs_attention):[a-z-]+)$`)
	names := map[string]bool{}
	for _, s := range All() {
		if names[s.Name] {
			t.Errorf("scenario name %q twice", s.Name)
		}
		names[s.Name] = true
		if !want.MatchString(s.Want) {
			t.Errorf("%s: Want %q is no outcome", s.Name, s.Want)
		}
		a, b := s.Build("a", 1), s.Build("b", 2)
		if a.OrderID != "a" || a.Attempt != 1 || len(a.Items) == 0 || a.Provider == "" {
			t.Errorf("%s: request %+v", s.Name, a)
			continue
		}
		for i := range a.Items {
			if a.Items[i].ProductID == b.Items[i].ProductID {
				t.Errorf("%s: orders 1 and 2 share product id %q", s.Name, a.Items[i].ProductID)
			}
		}
	}
}
