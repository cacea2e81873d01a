package adminapi

import "sort"

// Operations lists every route the API serves as "METHOD path", with
// whether it needs the token, sorted.
func (a *API) Operations() (ops []string, public map[string]bool) {
	public = map[string]bool{}
	for _, rt := range a.table() {
		for method := range rt.methods {
			op := method + " " + rt.path
			ops = append(ops, op)
			public[op] = rt.public
		}
	}
	sort.Strings(ops)
	return ops, public
}
