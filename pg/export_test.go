package pg

import (
	"context"
	"fmt"
)

// TestingDSN gives the examples a fresh database on the test server.
func TestingDSN() string {
	name := fmt.Sprintf("example%d", dbSeq.Add(1))
	if err := srv.CreateDB(context.Background(), name); err != nil {
		panic(err)
	}
	return srv.URL(name)
}
