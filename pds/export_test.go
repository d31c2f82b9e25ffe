package pds

// QuickChecked reports whether this start ran SQLite's quick_check.
func (e *Engine) QuickChecked() bool { return e.quickChecked }
