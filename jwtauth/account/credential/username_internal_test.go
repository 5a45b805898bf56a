package credential

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMixesScripts(t *testing.T) {
	for s, want := range map[string]bool{
		"alice": false, "alice2_x.y": false, "ελένη": false, "сергей": false, "山田たろう": false,
		"日本taro": false, "中文abc": false, "김민준": false, "김민준abc": false, "tarō": false, "ㄅㄆ中文": false,
		"p\u0430ypal": true, "ωmega": true, "αб": true, "한あ": true, "ㄅあ": true, "עבריתabc": true,
		"abc123-_.": false, "١٢٣abc": true, // Arabic-Indic digits have the Arabic script
		"": false,
	} {
		assert.Equal(t, want, mixesScripts(s), "%q", s)
	}
	assert.True(t, mixesScripts("αβγ"+strings.Repeat("a", 3)))
}
