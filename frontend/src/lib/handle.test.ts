import { describe, expect, it } from 'vitest'
import { domainProblem, handleProblem, normalizeHandle } from './handle'

describe('handles', () => {
  it('normalises what people type', () => {
    expect(normalizeHandle('  @Alice.Example.COM ')).toBe('alice.example.com')
  })

  it('explains what is wrong', () => {
    expect(handleProblem('')).toBe('Choose a handle.')
    expect(handleProblem('alice')).toMatch(/domain name/)
    expect(handleProblem('al ice.test')).toMatch(/only letters/)
    expect(handleProblem('-alice.test')).toMatch(/start and end/)
    expect(handleProblem('alice..test')).toMatch(/start and end/)
    expect(handleProblem('@alice.test')).toBe('')
    expect(handleProblem('me.example.com')).toBe('')
  })
})

describe('did:web domains', () => {
  it('takes a plain, public domain only', () => {
    expect(domainProblem('alice.example.com')).toBe('')
    expect(domainProblem('')).toMatch(/domain you own/)
    expect(domainProblem('https://alice.example.com')).toMatch(/no https/)
    expect(domainProblem('alice.example.com:8443')).toMatch(/port/)
    expect(domainProblem('alice')).toMatch(/^Use a domain name/)
    expect(domainProblem('alice.local')).toMatch(/never is/)
    expect(domainProblem('alice.test')).toBe('') // allowed for trying things out, as in Go
  })
})
