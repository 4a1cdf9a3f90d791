"""Writers: each turns results into one format and only reads them."""
