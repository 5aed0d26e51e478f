package idempotency

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// LoadScripts leaves every script of the store in Redis's cache, so the first calls of a busy
// start are one EVALSHA each, never NOSCRIPT and a second round trip.
func TestLoadScriptsCachesEveryScript(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s, err := New(rdb, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	scripts := []*redis.Script{acquireScript, transitionScript, finishScript, setOutcomeScript, allocateScript}
	var hashes []string
	for _, sc := range scripts {
		hashes = append(hashes, sc.Hash())
	}
	before, err := rdb.ScriptExists(ctx, hashes...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range before {
		if ok {
			t.Fatalf("script %d cached before LoadScripts", i)
		}
	}
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := rdb.ScriptExists(ctx, hashes...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range after {
		if !ok {
			t.Errorf("script %d not cached after LoadScripts", i)
		}
	}
}
