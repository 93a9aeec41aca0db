-- What the admin wrote on an invitation to tell pending links apart (NULL = nothing).
ALTER TABLE invitations ADD COLUMN note TEXT;
