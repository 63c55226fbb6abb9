// Interface values whose dynamic type has no DWARF entry (issue 16): types made
// by reflect, funcs and anonymous structs in an any, iter.Seq. Each call of show
// prints its own view of the value (%T and JSON, or the func's name), for the test
// to compare with what godi captured.
package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
)

// onlyReflect is never named by a variable: its pointer and slice types exist
// only as descriptors.
type onlyReflect struct {
	A int
	B string
}

type inner struct{ N int32 }

//go:noinline
func show(label string, v any) {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Chan {
		fmt.Printf("%s=%T|null\n", label, v)
		return
	}
	if t.Kind() == reflect.Func {
		name := runtime.FuncForPC(reflect.ValueOf(v).Pointer()).Name()
		fmt.Printf("%s=%T|%s\n", label, v, name)
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s=%T|%s\n", label, v, data)
}

func main() {
	rt := reflect.TypeOf(onlyReflect{})
	p := reflect.New(rt)
	p.Elem().Field(0).SetInt(7)
	p.Elem().Field(1).SetString("seven")
	show("new", p.Interface())

	s := reflect.MakeSlice(reflect.SliceOf(rt), 2, 2)
	s.Index(1).Field(0).SetInt(9)
	s.Index(1).Field(1).SetString("nine")
	show("slice", s.Interface())

	pp := reflect.New(reflect.PointerTo(reflect.TypeOf(inner{})))
	pp.Elem().Set(reflect.ValueOf(&inner{N: 5}))
	show("ptrptr", pp.Interface())

	// Types only reflect makes, at run time, on the heap: none in the binary.
	show("ptrOf", reflect.New(reflect.PointerTo(rt)).Interface()) // **onlyReflect
	fields := []reflect.StructField{
		{Name: "A", Type: reflect.TypeOf(0)},
		{Name: "B", Type: reflect.TypeOf(""), Tag: `json:"b,omitempty" x:"\t"`},
		{Name: "Inner", Type: reflect.TypeOf(inner{}), Anonymous: true},
	}
	st := reflect.StructOf(fields)
	sv := reflect.New(st).Elem()
	sv.Field(0).SetInt(4)
	sv.Field(1).SetString("four")
	show("structOf", sv.Interface())
	show("sliceOfStruct", reflect.MakeSlice(reflect.SliceOf(st), 1, 1).Interface())
	show("mapOf", reflect.MakeMap(reflect.MapOf(reflect.TypeOf(""), rt)).Interface())
	show("arrayOf", reflect.New(reflect.ArrayOf(5, reflect.TypeOf(inner{}))).Elem().Interface())
	show("arrayOfSlices", reflect.New(reflect.ArrayOf(2, reflect.SliceOf(st))).Elem().Interface())
	show("nested", reflect.MakeMap(reflect.MapOf(reflect.TypeOf(int16(0)),
		reflect.SliceOf(reflect.PointerTo(st)))).Interface())
	show("chanOf", reflect.Zero(reflect.ChanOf(reflect.RecvDir, st)).Interface())
	show("func", strings.ToUpper)
	show("anon", struct {
		X int
		Y string
	}{3, "three"})
	show("anonptr", &struct{ Z []int }{Z: []int{1, 2}})
	show("array", [3]inner{{1}, {2}, {3}})
	show("map", map[string]inner{"a": {1}, "b": {2}})
	show("map2", map[int8][2]uint16{-1: {2, 3}, 4: {5, 6}})
	show("nilmap", map[uint16]int8(nil))
	m := reflect.MakeMap(reflect.TypeOf(map[uint16]int8(nil)))
	m.SetMapIndex(reflect.ValueOf(uint16(7)), reflect.ValueOf(int8(-2)))
	show("madeMap", m.Interface())
	showSeq()
}
