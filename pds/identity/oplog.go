package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/plc"
)

// LoggedOp is one did:plc operation Hearth signed or stored for an
// account, in the shape of the PLC directory's audit log
// (/did/log/audit: did, operation, cid, createdAt) plus what became of it
// here.
type LoggedOp struct {
	DID       string          `json:"did"`
	Operation json.RawMessage `json:"operation"`
	CID       string          `json:"cid"`
	CreatedAt string          `json:"createdAt"`
	// Status is "published" (the directory accepted it), "pending" (not
	// sent yet) or "refused" (the directory refused it: Error says why).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// OperationLog returns the did:plc operations Hearth holds for did, oldest
// first (an account that moved here from another PDS may have none).
func (i *Identity) OperationLog(ctx context.Context, did syntax.DID) ([]LoggedOp, error) {
	rows, err := i.db.R.QueryContext(ctx, "SELECT op, published, created_at, error FROM plc_op WHERE did = ? ORDER BY id", did.String())
	if err != nil {
		return nil, fmt.Errorf("read the PLC operations of %s: %w", did, err)
	}
	defer rows.Close()
	log := []LoggedOp{}
	for rows.Next() {
		var (
			op        []byte
			published int
			created   string
			opErr     sql.NullString
		)
		if err := rows.Scan(&op, &published, &created, &opErr); err != nil {
			return nil, fmt.Errorf("read the PLC operations of %s: %w", did, err)
		}
		c, err := plc.OpCID(op)
		if err != nil {
			return nil, fmt.Errorf("PLC operation of %s: %w", did, err)
		}
		e := LoggedOp{DID: did.String(), Operation: json.RawMessage(op), CID: c, CreatedAt: created, Status: "pending", Error: opErr.String}
		switch published {
		case 1:
			e.Status = "published"
		case -1:
			e.Status = "refused"
		}
		log = append(log, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the PLC operations of %s: %w", did, err)
	}
	return log, nil
}
