package secheaders

import "testing"

func TestCompile(t *testing.T) {
	s, err := Compile("", nil, nil)
	if err != nil || len(s.Headers) != len(helmetHeaders)-1 || !s.HasHSTS || s.NoStoreAuthenticated {
		t.Fatalf("helmet: %+v %v", s, err)
	}
	s, err = Compile("api", map[string]string{"permissions-policy": "camera=()"}, []string{"Strict-Transport-Security"})
	if err != nil || s.HasHSTS || !s.NoStoreAuthenticated || len(s.Headers) != len(helmetHeaders) {
		t.Fatalf("api: %+v %v", s, err)
	}
	if _, err := Compile("api", map[string]string{"Cache-Control": "x"}, []string{"cache-control"}); err == nil {
		t.Fatal("set and removed accepted")
	}
	if _, err := Compile("strictest", nil, nil); err == nil {
		t.Fatal("unknown preset accepted")
	}
	if Check(map[string]string{"X-A": "a\r\nb"}, nil) == nil || Check(nil, []string{"bad name"}) == nil || Check(map[string]string{"X-A": "a"}, []string{"X-B"}) != nil {
		t.Fatal("Check")
	}
}
