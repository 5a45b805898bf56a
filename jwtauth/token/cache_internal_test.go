package token

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClaimsCloneIsDeep fills every field of Claims, clones, and checks that
// no slice, map or pointer of the copy shares memory with the original: a
// field added to Claims without its deep copy in clone fails here.
func TestClaimsCloneIsDeep(t *testing.T) {
	for _, auds := range [][]string{nil, {"a"}, {"a", "b"}} {
		c := &Claims{}
		rv := reflect.ValueOf(c).Elem()
		for i := range rv.NumField() {
			f := rv.Field(i)
			if !rv.Type().Field(i).IsExported() {
				continue // extra: immutable, shared by design (TestClaimsCloneSharesOnlyExtra)
			}
			switch f.Kind() {
			case reflect.String:
				f.SetString("v")
			case reflect.Slice:
				f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			case reflect.Map:
				m := reflect.MakeMap(f.Type())
				elem := reflect.New(f.Type().Elem()).Elem()
				if elem.Kind() == reflect.Slice {
					elem = reflect.MakeSlice(elem.Type(), 1, 1)
				}
				m.SetMapIndex(reflect.New(f.Type().Key()).Elem(), elem)
				f.Set(m)
			case reflect.Pointer:
				f.Set(reflect.New(f.Type().Elem()))
			case reflect.Struct, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
				// values: copied by the struct copy
			default:
				t.Fatalf("Claims.%s: kind %s has no rule in this test; give it one and a deep copy in clone",
					rv.Type().Field(i).Name, f.Kind())
			}
		}
		c.Audience = auds
		c.ExpiresAt = time.Unix(1, 0)
		d := c.clone()
		require.Equal(t, c, d)
		dv := reflect.ValueOf(d).Elem()
		for i := range rv.NumField() {
			name := rv.Type().Field(i).Name
			if !rv.Type().Field(i).IsExported() {
				continue
			}
			a, b := rv.Field(i), dv.Field(i)
			switch a.Kind() {
			case reflect.Slice, reflect.Map, reflect.Pointer:
				if a.Len() > 0 || a.Kind() == reflect.Pointer {
					assert.NotEqual(t, a.Pointer(), b.Pointer(), "Claims.%s is shared by the clone", name)
				}
			}
		}
		if len(d.Audience) > 0 {
			d.Audience = append(d.Audience, "appended")
			assert.Equal(t, auds, c.Audience, "append to the clone's audience changed the original")
		}
	}
}

func TestClaimsCloneOneAllocation(t *testing.T) {
	for _, extra := range []map[string]json.RawMessage{nil, {"roles": json.RawMessage(`["admin"]`)}} {
		c := &Claims{Issuer: "i", Subject: "s", Audience: []string{"a"}, ExpiresAt: time.Unix(2, 0), ID: "j", extra: extra}
		var d *Claims
		allocs := testing.AllocsPerRun(100, func() { d = c.clone() })
		assert.Equal(t, 1.0, allocs)
		assert.Equal(t, c, d)
	}
}

// TestClaimsCloneSharesOnlyExtra: the one field a clone shares is extra,
// which nothing writes after verification and nothing outside the package
// reaches; the other unexported fields, jkt and bound (cnf), are a string
// and a bool, which a copy of the struct copies.
func TestClaimsCloneSharesOnlyExtra(t *testing.T) {
	var unexported []string
	rt := reflect.TypeFor[Claims]()
	for i := range rt.NumField() {
		if !rt.Field(i).IsExported() {
			unexported = append(unexported, rt.Field(i).Name)
		}
	}
	assert.Equal(t, []string{"jkt", "bound", "extra"}, unexported)
	assert.Equal(t, reflect.String, rt.Field(7).Type.Kind())
	assert.Equal(t, reflect.Bool, rt.Field(8).Type.Kind())
}
