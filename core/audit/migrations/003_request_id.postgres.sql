-- A request id quoted to an administrator (the console's journal page,
-- its entry detail, timon audit show): its entries without a scan.
CREATE INDEX audit_entries_request ON audit_entries (((data::jsonb ->> 'request_id')))
