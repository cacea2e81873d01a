package branding

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/tdewolff/parse/v2/css"
)

var (
	errNotColor    = errors.New("not a colour: use #rrggbb, #rgb, #rrggbbaa, rgb(), rgba(), hsl(), hsla() or a CSS colour name")
	colorFunc      = regexp.MustCompile(`^(rgba?|hsla?)\(([^()]*)\)$`)
	numberPattern  = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]+)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	hexColorLength = map[int]bool{3: true, 4: true, 6: true, 8: true}
)

// ParseColor parses a CSS colour and returns it in canonical form: lowercase
// #rrggbb, or #rrggbbaa when not opaque. It accepts hex colours, rgb(),
// rgba(), hsl() and hsla() with numeric arguments (comma or space syntax),
// and the CSS named colours including "transparent". Anything else, such as
// currentcolor, var() or color-mix(), is an error.
func ParseColor(s string) (string, error) {
	if hasControl(s) {
		return "", errors.New("contains a control character")
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.HasPrefix(s, "#") {
		return parseHexColor(s[1:])
	}
	if hex, ok := namedColors[s]; ok {
		return hex, nil
	}
	m := colorFunc.FindStringSubmatch(s)
	if m == nil {
		return "", errNotColor
	}
	args, err := colorArgs(m[2])
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(m[1], "rgb") {
		return rgbColor(args)
	}
	return hslColor(args)
}

func parseHexColor(h string) (string, error) {
	if !hexColorLength[len(h)] {
		return "", errNotColor
	}
	for i := range len(h) {
		if !isHex(h[i]) {
			return "", errNotColor
		}
	}
	if len(h) <= 4 {
		var b strings.Builder
		for i := range len(h) {
			b.WriteByte(h[i])
			b.WriteByte(h[i])
		}
		h = b.String()
	}
	return "#" + h[:6] + alphaSuffix(h), nil
}

func alphaSuffix(h string) string {
	if len(h) == 8 && h[6:] != "ff" {
		return h[6:]
	}
	return ""
}

// colorArgs splits "1, 2, 3" or "1 2 3 / 50%" into three or four arguments.
func colorArgs(s string) ([]string, error) {
	var args []string
	if strings.Contains(s, ",") {
		args = strings.Split(s, ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
	} else {
		args = strings.Fields(strings.ReplaceAll(s, "/", " / "))
		switch {
		case len(args) == 5 && args[3] == "/":
			args = append(args[:3], args[4])
		case len(args) != 3:
			return nil, errNotColor
		}
	}
	if len(args) != 3 && len(args) != 4 {
		return nil, errNotColor
	}
	return args, nil
}

// component parses a number or percentage; a percentage is scaled so that
// 100% equals full.
func component(s string, full float64) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	s = strings.TrimSuffix(s, "%")
	if !numberPattern.MatchString(s) {
		return 0, fmt.Errorf("%w (bad number %q)", errNotColor, s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, errNotColor
	}
	if pct {
		v = v / 100 * full
	}
	return min(max(v, 0), full), nil
}

func alpha(args []string) (float64, error) {
	if len(args) < 4 {
		return 1, nil
	}
	return component(args[3], 1)
}

func rgbColor(args []string) (string, error) {
	var c [3]float64
	for i := range c {
		v, err := component(args[i], 255)
		if err != nil {
			return "", err
		}
		c[i] = v / 255
	}
	a, err := alpha(args)
	if err != nil {
		return "", err
	}
	return hexRGBA(c[0], c[1], c[2], a), nil
}

func hslColor(args []string) (string, error) {
	h, err := hue(args[0])
	if err != nil {
		return "", err
	}
	s, err := component(strings.TrimSuffix(args[1], "%"), 100)
	if err != nil {
		return "", err
	}
	l, err := component(strings.TrimSuffix(args[2], "%"), 100)
	if err != nil {
		return "", err
	}
	a, err := alpha(args)
	if err != nil {
		return "", err
	}
	r, g, b := css.HSL2RGB(h, s/100, l/100)
	return hexRGBA(r, g, b, a), nil
}

// angleUnits lists "grad" before "rad", which is its suffix.
var angleUnits = []struct {
	name    string
	perTurn float64
}{{"deg", 360}, {"grad", 400}, {"rad", 2 * math.Pi}, {"turn", 1}}

// hue parses an angle and returns it in turns, within [0, 1).
func hue(s string) (float64, error) {
	perTurn := 360.0
	for _, u := range angleUnits {
		if strings.HasSuffix(s, u.name) {
			s, perTurn = strings.TrimSuffix(s, u.name), u.perTurn
			break
		}
	}
	if !numberPattern.MatchString(s) {
		return 0, errNotColor
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, errNotColor
	}
	t := math.Mod(v/perTurn, 1)
	if t < 0 {
		t++
	}
	return t, nil
}

func hexRGBA(r, g, b, a float64) string {
	byteOf := func(v float64) int { return int(math.Round(min(max(v, 0), 1) * 255)) }
	s := fmt.Sprintf("#%02x%02x%02x", byteOf(r), byteOf(g), byteOf(b))
	if ab := byteOf(a); ab != 255 {
		s += fmt.Sprintf("%02x", ab)
	}
	return s
}
