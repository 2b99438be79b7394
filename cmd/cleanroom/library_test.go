package main

import (
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/library"
)

// TestLibraryFitsDemoRoom checks every shipped template against the demo
// room's schemas and column policies, and that the demo's agreement
// permits it: a new room can use the library as it is.
func TestLibraryFitsDemoRoom(t *testing.T) {
	schemas := map[string]*cleanroom.Schema{}
	owners := map[string]string{}
	for _, d := range demoDatasets {
		raw, err := demoSchemas.ReadFile("demodata/" + d.name + ".schema.json")
		if err != nil {
			t.Fatal(err)
		}
		if schemas[d.name], err = cleanroom.ParseSchema(raw); err != nil {
			t.Fatal(err)
		}
		owners[d.name] = d.party
	}
	all, err := library.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 4 {
		t.Fatalf("the library has %d templates", len(all))
	}
	d, err := readDUABytes(demoDUA)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if err := cleanroom.CheckTemplate(e.Template, schemas, owners); err != nil {
			t.Errorf("library template %s does not fit the demo room: %v", e.Name, err)
		}
		if !d.Permits(e.Name, 1) {
			t.Errorf("the demo agreement does not permit library template %s", e.Name)
		}
	}
	if _, err := library.Get("nope"); err == nil {
		t.Error("Get of an unknown template succeeded")
	}
}
