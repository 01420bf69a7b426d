package lifecycle

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum"
)

func TestScratch(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "app.db")
	db := openDSN(t, "file:"+src+"?vfs=adiantum&hexkey=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff&_pragma=journal_mode(wal)")
	mustExec(t, db, `CREATE TABLE a (x)`)
	conn, _ := db.Conn(context.Background())
	withRaw(conn, func(c *sqlite3.Conn) error {
		t.Logf("params %v", c.Filename("main").URIParameters())
		n, err := c.FileControl("main", sqlite3.FCNTL_VFSNAME)
		t.Logf("vfsname %v %v", n, err)
		return nil
	})
	_, err := conn.ExecContext(context.Background(), `ATTACH ? AS p`, "file:"+filepath.Join(dir, "plain.db")+"?vfs=os")
	t.Log("attach os", err)
	_, err = conn.ExecContext(context.Background(), `CREATE TABLE p.t(x); INSERT INTO p.t VALUES ('hello')`)
	t.Log("write", err)
	_, err = conn.ExecContext(context.Background(), `ATTACH ? AS q`, "file:"+filepath.Join(dir, "plain.db"))
	t.Log("attach default", err)
	var n int
	err = conn.QueryRowContext(context.Background(), `SELECT count(*) FROM q.t`).Scan(&n)
	t.Log("read q", err)
	_, err = conn.ExecContext(context.Background(), `ATTACH ? AS r`, "file:"+filepath.Join(dir, "plain.db")+"?vfs=adiantum&hexkey=ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	t.Log("attach wrong", err)
	err = conn.QueryRowContext(context.Background(), `SELECT count(*) FROM r.t`).Scan(&n)
	t.Log("read r", err)
	c, err := sqlite3.OpenFlags("file:"+src+"?vfs=adiantum", sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	t.Log("open nokey", err)
	if err == nil {
		t.Log("exec", c.Exec(`PRAGMA quick_check`))
		c.Close()
	}
	c, err = sqlite3.OpenFlags("file:"+src+"?vfs=adiantum&hexkey=abcd", sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	t.Log("open badkey", err)
	c, err = sqlite3.OpenFlags("file:"+src+"?vfs=nosuch&hexkey=abcd", sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	t.Log("open badvfs", err)
	c, err = sqlite3.OpenFlags(src, sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	t.Log("open plain", err)
	if err == nil {
		t.Log("exec", c.Exec(`PRAGMA quick_check`))
		c.Close()
	}
}
