package repos

// Unexported helpers reached by the external tests (fuzz targets).
var (
	DecodeRecord    = decodeRecord
	CheckDataModel  = checkDataModel
	PlainRecord     = plainRecord
	CheckRecordFull = checkRecordFull
	ParseRecordPath = parseRecordPath
)
