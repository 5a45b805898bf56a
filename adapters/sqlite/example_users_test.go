package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strings"

	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// appUsers implements account.UserStore over an application's own users
// table, with its own column names: account_name, pw_hash (bcrypt today),
// role, signed_up.
type appUsers struct{ db *sql.DB }

// UserByName looks the account up. jwtauth passes the username normalized
// (RFC 8265: "Alice" comes as "alice"), so the lookup ignores case.
func (s appUsers) UserByName(ctx context.Context, username string) (account.User, error) {
	var u account.User
	err := s.db.QueryRowContext(ctx,
		`SELECT lower(account_name), pw_hash, signed_up FROM users WHERE account_name = ? COLLATE NOCASE`, username).
		Scan(&u.Username, &u.PasswordHash, &u.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return account.User{}, account.ErrUserNotFound
	}
	return u, err
}

// CreateUser serves /register; a taken name changes nothing.
func (s appUsers) CreateUser(ctx context.Context, u account.User) error {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO users (account_name, pw_hash, role, signed_up) VALUES (?, ?, 'user', ?) ON CONFLICT DO NOTHING`,
		u.Username, u.PasswordHash, u.CreatedAt)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return account.ErrUserExists
	}
	return nil
}

// UpdatePasswordHash stores the argon2id hash jwtauth computes when a bcrypt
// password logs in. If other code of yours still checks pw_hash with bcrypt,
// return nil here instead: the bcrypt hash then stays, and logins keep working.
func (s appUsers) UpdatePasswordHash(ctx context.Context, username, hash string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET pw_hash = ? WHERE account_name = ? COLLATE NOCASE`, hash, username)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return account.ErrUserNotFound
	}
	return nil
}

// Example_ownUsersTable logs in a user who already exists in an
// application's SQLite users table, with the bcrypt hash the application
// stored, through a account.UserStore over that table; a claims hook reads
// the user's role from the same table.
//
// That is where roles belong: in data only the application writes. /register
// creates every account with role 'user', so whoever registers a name such as
// "root" first gets nothing more, and an account becomes admin only when the
// application changes its row (the new role is in the next token, from the
// next login or refresh). A hook that grants roles by username, as the
// examples/ apps do with EXAMPLE_ADMINS, makes the first registrant of an
// admin's name an admin wherever registration is open.
func Example_ownUsersTable() {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:app?mode=memory&cache=shared")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// The application's existing table and one of its users.
	_, err = db.ExecContext(ctx, `CREATE TABLE users (
		id INTEGER PRIMARY KEY, account_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
		pw_hash TEXT NOT NULL, role TEXT NOT NULL, signed_up TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`)
	if err != nil {
		log.Fatal(err)
	}
	legacy, _ := bcrypt.GenerateFromPassword([]byte("correct horse battery"), bcrypt.MinCost)
	if _, err := db.ExecContext(ctx, `INSERT INTO users (account_name, pw_hash, role) VALUES ('Alice', ?, 'admin')`, string(legacy)); err != nil {
		log.Fatal(err)
	}

	// jwtauth over it: the users from the application's table, keys in
	// memory here (use sqlite.Open for jwtauth's own tables in production).
	// With users of its own there are no refresh tokens: jwtauth's stores
	// keep them only for the users in their own table.
	svc, err := jwtauth.New(ctx, jwtauth.Config{
		Store: memory.New(), Users: appUsers{db}, Issuer: "https://app.example.com",
		Logger: slog.New(slog.DiscardHandler),
		Claims: func(ctx context.Context, username string) (map[string]any, error) {
			var role string
			err := db.QueryRowContext(ctx, `SELECT role FROM users WHERE account_name = ? COLLATE NOCASE`, username).Scan(&role)
			return map[string]any{"roles": []string{role}}, err
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	accounts, verifier := svc.Accounts(), svc.Verifier()

	tok, err := accounts.Login(ctx, "alice", "correct horse battery")
	if err != nil {
		log.Fatal(err)
	}
	claims, err := verifier.Verify(ctx, tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in:", claims.Subject, claims.Roles())

	_, err = accounts.Login(ctx, "alice", "wrong password")
	fmt.Println("wrong password:", err)

	// A name anyone may register gets the role CreateUser writes: user.
	if err := accounts.Register(ctx, "root", "another long passphrase"); err != nil {
		log.Fatal(err)
	}
	roles := func(username, password string) []string {
		tok, err := accounts.Login(ctx, username, password)
		if err != nil {
			log.Fatal(err)
		}
		c, err := verifier.Verify(ctx, tok.AccessToken)
		if err != nil {
			log.Fatal(err)
		}
		return c.Roles()
	}
	fmt.Println("registered root:", roles("root", "another long passphrase"))
	// The application promotes an account by changing its data.
	if _, err := db.ExecContext(ctx, `UPDATE users SET role = 'admin' WHERE account_name = 'root'`); err != nil {
		log.Fatal(err)
	}
	fmt.Println("promoted root:", roles("root", "another long passphrase"))

	var hash string
	_ = db.QueryRowContext(ctx, `SELECT pw_hash FROM users WHERE id = 1`).Scan(&hash)
	fmt.Println("bcrypt hash upgraded:", strings.HasPrefix(hash, "$argon2id$"))
	// Output:
	// logged in: alice [admin]
	// wrong password: invalid_credentials: invalid username or password
	// registered root: [user]
	// promoted root: [admin]
	// bcrypt hash upgraded: true
}
